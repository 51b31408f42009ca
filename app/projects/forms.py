from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired, Length


class ProjectForm(FlaskForm):
    title = StringField("Title", validators=[InputRequired(message="Give the project a title."),
                                             Length(max=200)])
