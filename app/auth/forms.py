from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import Email, EqualTo, InputRequired, Length

PASSWORD_RULES = [InputRequired(), Length(min=10, max=200,
                                          message="Use at least 10 characters.")]


class SignupForm(FlaskForm):
    name = StringField("Your name", validators=[InputRequired(), Length(max=120)])
    email = EmailField("Email", validators=[InputRequired(), Email(check_deliverability=False),
                                            Length(max=254)])
    password = PasswordField("Password", validators=PASSWORD_RULES)
    confirm = PasswordField("Repeat password", validators=[
        InputRequired(), EqualTo("password", message="The passwords don't match.")])
    invite = HiddenField()


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[InputRequired(), Length(max=200)])
    invite = HiddenField()


class ChangePasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[InputRequired()])
    password = PasswordField("New password", validators=PASSWORD_RULES)
    confirm = PasswordField("Repeat new password", validators=[
        InputRequired(), EqualTo("password", message="The passwords don't match.")])
