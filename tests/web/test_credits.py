"""The append-only ledger: grants, removals, monthly credits, charges, refunds, history, concurrency."""
import csv
import io
import multiprocessing

import pytest

from app import ledger
from app.extensions import db
from app.models import CreditEntry, User


def test_monthly_grant_once_per_month_and_balance_is_the_sum(app, make_member):
    _, ws = make_member("owner")
    with app.app_context():
        from app.models import Workspace
        workspace = db.session.get(Workspace, ws)
        ledger.ensure_monthly_grant(workspace)
        ledger.ensure_monthly_grant(workspace)
        assert ledger.balance(ws) == 100
        entry = ledger.charge(ws, 3, "Image for scene 1", key="charge:test:1")
        assert ledger.charge(ws, 3, "retry of the same job", key="charge:test:1").id == entry.id
        ledger.refund(entry, "Provider failed")
        ledger.refund(entry, "Provider failed (retried)")
        assert ledger.balance(ws) == 100
        kinds = [e.kind for e in db.session.scalars(db.select(CreditEntry).order_by(CreditEntry.id))]
        assert kinds == ["monthly", "charge", "refund"]
        with pytest.raises(ledger.InsufficientCredits, match="needs 101 credits but the workspace has 100"):
            ledger.charge(ws, 101, "too much", key="charge:test:2")


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_members_cannot_mint_credits_unless_self_service_is_on(client, app, make_member, operator,
                                                               role):
    """The finding: any owner could POST /credits/grant amount=1000000, as often as they liked."""
    email, ws = make_member(role)
    client.login(email)
    response = client.submit("/credits/grant", {"amount": "1000000", "reason": "free money"})
    body = response.get_data(as_text=True)
    assert response.status_code == 403 and 'data-reason="operator"' in body
    assert "Ask them to change the plan or add credits" in body and "Opal" in body
    assert "Grant credits" not in client.get("/credits/").get_data(as_text=True)
    with app.app_context():
        assert ledger.balance(ws) == 100  # the monthly credits only
        assert db.session.scalar(db.select(CreditEntry).filter_by(kind="grant")) is None


def test_removing_credits_never_takes_the_balance_below_zero(app, make_member, operator):
    _, ws = make_member("owner", plan="free")
    with app.app_context():
        opal = db.session.scalar(db.select(User).filter_by(email=operator))
        ledger.grant(ws, 10, "welcome")
        ledger.debit(ws, 4, "granted by mistake", user_id=opal.id)
        with pytest.raises(ledger.InsufficientCredits):
            ledger.debit(ws, 7, "more than is left", user_id=opal.id)
        entries = db.session.scalars(db.select(CreditEntry).order_by(CreditEntry.id)).all()
        assert [(e.kind, e.delta) for e in entries] == [("grant", 10), ("debit", -4)]
        assert ledger.balance(ws) == sum(e.delta for e in entries) == 6


def test_admin_grants_from_page_and_cli_and_history_filters_and_csv(client, app, make_member):
    app.config["SELF_SERVICE"] = True  # an instance whose members manage their own credits
    email, ws = make_member("admin")
    client.login(email)
    client.submit("/credits/grant", {"amount": "25", "reason": "=HYPERLINK(\"x\") bonus"})
    page = client.submit("/credits/grant", {"amount": "-5"}, follow_redirects=True).get_data(as_text=True)
    assert "Enter a whole number of credits between 1 and 1,000,000." in page
    result = app.test_cli_runner().invoke(args=["credits", "grant", str(ws), "10", "--reason", "CLI"])
    assert result.exit_code == 0 and "balance 135" in result.output
    page = client.get("/credits/").get_data(as_text=True)
    assert 'id="balance-figure">135<' in page and 'class="num">135<' in page
    page = client.get("/credits/?kind=monthly").get_data(as_text=True)
    assert "Monthly starter plan credits" in page and "CLI" not in page
    rows = list(csv.reader(io.StringIO(client.get("/credits/export.csv?kind=grant").get_data(as_text=True))))
    assert rows[0][:3] == ["date (UTC)", "kind", "credits"]
    assert sorted(r[2] for r in rows[1:]) == ["10", "25"]
    assert any(r[3].startswith("'=HYPERLINK") for r in rows[1:])  # no formula injection


def _spend(url: str, workspace_id: int, barrier, results):
    from app import create_app
    from app import ledger as worker_ledger
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        barrier.wait()
        try:
            worker_ledger.charge(workspace_id, 1, "race", key=f"race:{multiprocessing.current_process().pid}")
            results.put("charged")
        except worker_ledger.InsufficientCredits:
            results.put("refused")


@pytest.mark.parametrize("processes,credits", [(2, 1), (5, 4)])
def test_concurrent_spending_never_overdraws(app, make_member, processes, credits):
    _, ws = make_member("owner", plan="free")
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    with app.app_context():
        ledger.grant(ws, credits, "test credits")
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    workers = [ctx.Process(target=_spend, args=(url, ws, barrier, results)) for _ in range(processes)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    outcomes = sorted(results.get(timeout=5) for _ in workers)
    assert outcomes == ["charged"] * credits + ["refused"] * (processes - credits)
    with app.app_context():
        assert ledger.balance(ws) == 0
