from flask import current_app
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import Email, InputRequired, Length, NumberRange, Optional

from .settings import SIGNUP_MODES


def _plan_choices():
    return [(key, plan["label"]) for key, plan in current_app.config["PLANS"].items()]


class PlanForm(FlaskForm):
    plan = SelectField("Plan", validators=[InputRequired()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.plan.choices = _plan_choices()


class CreditsForm(FlaskForm):
    direction = RadioField("Change", choices=[("grant", "Grant"), ("remove", "Remove")],
                           default="grant", validators=[InputRequired()])
    amount = IntegerField("Credits", validators=[
        InputRequired(message="Enter a whole number of credits."),
        NumberRange(min=1, max=1_000_000, message="Between 1 and 1,000,000 credits.")])
    reason = StringField("Reason (shown in the workspace's credit history)", validators=[
        InputRequired(message="Say why; the workspace sees it in its credit history."),
        Length(max=200)])


class QuotaForm(FlaskForm):
    quota_mb = IntegerField("Storage quota (MB)", validators=[
        Optional(), NumberRange(min=0, max=100_000_000, message="0 (no limit) or more MB.")])


class SettingsForm(FlaskForm):
    signup_mode = RadioField("Who can sign up", choices=list(SIGNUP_MODES.items()))
    max_workspaces = IntegerField("Workspaces one account may create", validators=[
        InputRequired(), NumberRange(min=0, max=1000)])
    self_service = BooleanField("Self-service: owners switch plans and admins grant credits "
                                "themselves")
    default_quota_mb = IntegerField("Default storage quota per workspace (MB, 0 = no limit)",
                                    validators=[InputRequired(), NumberRange(min=0, max=100_000_000)])
    selfhosted_credits = IntegerField("Credits per image from your GPU server (0 = free)", validators=[
        InputRequired(message="Enter a whole number of credits (0 makes them free)."),
        NumberRange(min=0, max=1000, message="Between 0 and 1,000 credits.")])
    selfhosted_plans = SelectMultipleField("Plans that may use your GPU server")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.selfhosted_plans.choices = _plan_choices()


class OperatorInviteForm(FlaskForm):
    plan = SelectField("Plan of their workspace", validators=[InputRequired()])
    workspace_name = StringField("Workspace name (optional)", validators=[Length(max=120)])
    email = EmailField("Email (optional, for your records)",
                       validators=[Optional(), Email(check_deliverability=False), Length(max=254)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.plan.choices = _plan_choices()
