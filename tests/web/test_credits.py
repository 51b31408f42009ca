"""The append-only ledger: grants, monthly credits, charges, refunds, history and concurrency."""
import csv
import io
import multiprocessing

import pytest

from app import ledger
from app.extensions import db
from app.models import CreditEntry


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


def test_admin_grants_from_page_and_cli_and_history_filters_and_csv(client, app, make_member):
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
