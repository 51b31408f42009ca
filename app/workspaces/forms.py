from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField
from wtforms.validators import Email, InputRequired, Length, Optional

INVITE_ROLES = [("viewer", "Viewer — can look"), ("editor", "Editor — can create and generate"),
                ("admin", "Admin — also manages members and credits")]


class InviteForm(FlaskForm):
    role = SelectField("Role", choices=INVITE_ROLES, default="viewer")
    email = EmailField("Email (optional, for your records)",
                       validators=[Optional(), Email(check_deliverability=False), Length(max=254)])


class NewWorkspaceForm(FlaskForm):
    name = StringField("Workspace name", validators=[InputRequired(), Length(max=120)])
