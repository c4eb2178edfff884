"""Flask-WTF forms of the consoles: every state-changing page action carries a CSRF token."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (BooleanField, EmailField, HiddenField, PasswordField, SelectField,
                     SelectMultipleField, StringField, TextAreaField)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Regexp, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from marketplace.accounts.models import ROLES, SCOPES
from marketplace.clock import parse_period
from marketplace.money import parse_money


def options(values, labels=None) -> list[SelectChoice]:
    """Choices of a select field: each value labelled by itself or by ``labels[value]``."""
    return [SelectChoice(v, (labels or {}).get(v, v)) for v in values]


class MultiCheckboxField(SelectMultipleField):
    """A multiple choice shown as checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def at_least_one(_form, field) -> None:
    """At least one box ticked (no HTML ``required``: it would demand every box)."""
    if not field.data:
        raise ValidationError(_l("至少选择一项权限"))


def money_amount(_form, field) -> None:
    """A payment amount as money.parse_money takes it (positive, ≤ 10¹², at most 2 places)."""
    try:
        parse_money(field.data or "", "CNY")
    except ValueError as exc:
        if "greater than 0" in str(exc):
            raise ValidationError(_l("金额须大于 0")) from None
        raise ValidationError(_l("金额须为正数，最多两位小数，如 1234.50 或 1,234.50")) from None


def valid_period(_form, field) -> None:
    """A period YYYY-MM as clock.parse_period takes it (the whole text, years 2000–2999)."""
    try:
        parse_period(field.data or "")
    except ValueError:
        raise ValidationError(_l("账期格式为 YYYY-MM，如 2026-10"))


class ActionForm(FlaskForm):
    """A button with nothing but a CSRF token (uninstall, revoke, settle…)."""


class UploadForm(FlaskForm):
    """A module bundle (zip built by `marketplace module build`)."""

    bundle = FileField(_l("模块包（zip）"), validators=[FileRequired(_l("请选择要上传的 zip 模块包"))])


class YankForm(FlaskForm):
    """Withdraw a version from new installs, with the reason adopters will read."""

    reason = StringField(_l("撤回原因"), validators=[DataRequired(), Length(min=3, max=500)])


class InstallForm(FlaskForm):
    """Accept a version's terms (the inter-governmental agreement) and install it."""

    version = SelectField(_l("版本"), choices=[])
    accept_terms = BooleanField(_l("我已阅读并接受上述条款"),
                                validators=[DataRequired(_l("安装前须接受条款"))])


class UpgradeForm(FlaskForm):
    """Move an installation to another version of the same module."""

    version = SelectField(_l("版本"), choices=[], validators=[DataRequired()])
    accept_terms = BooleanField(_l("接受新版本条款（条款变化时必须）"))


class SwitchForm(FlaskForm):
    """Move to another module implementing the same interface."""

    module = SelectField(_l("替换为"), choices=[], validators=[DataRequired()])
    accept_terms = BooleanField(_l("接受新模块条款"), validators=[DataRequired(_l("切换前须接受条款"))])


class TokenForm(FlaskForm):
    """A new API token for the adopter's own systems."""

    name = StringField(_l("名称"), validators=[DataRequired(), Length(max=100)])
    scopes = MultiCheckboxField(_l("权限"), choices=options(SCOPES),
                                default=["invoke"], validators=[at_least_one])


class ReviewForm(FlaskForm):
    """Approve or reject a pending version."""

    decision = SelectField(_l("决定"), choices=options(["approve", "reject"], {
        "approve": _l("通过"), "reject": _l("驳回")}))
    reason = TextAreaField(_l("说明"), validators=[Length(max=1000)])


class UserForm(FlaskForm):
    """A new console user of a jurisdiction."""

    email = EmailField(_l("邮箱"), validators=[DataRequired(), Length(max=254)])
    name = StringField(_l("姓名"), validators=[Length(max=100)])
    jurisdiction = StringField(_l("行政区划代码"), validators=[
        DataRequired(), Regexp(r"[1-9][0-9]{5}\Z", message=_l("须为 6 位行政区划代码，如 440300"))])
    role = SelectField(_l("角色"), choices=options(ROLES))
    password = PasswordField(_l("初始密码"), validators=[DataRequired(), Length(min=12)])


class PaymentForm(FlaskForm):
    """Book a payment in the built-in ledger: money from a jurisdiction, or paid out to it."""

    jurisdiction = SelectField(_l("地区"), choices=[], validators=[DataRequired()])
    direction = SelectField(_l("方向"), choices=options(["in", "out"], {
        "in": _l("收款：该地区向平台付款"), "out": _l("付款：平台向该地区付款")}))
    amount = StringField(_l("金额（元）"), validators=[DataRequired(), money_amount])
    period = StringField(_l("账期"), validators=[DataRequired(), valid_period])
    reference = StringField(_l("银行流水号（可选；同一地区同一账期只记一次）"),
                            validators=[Length(max=100)])

    def amount_minor(self) -> int:
        """The amount in fen (after validation)."""
        return parse_money(self.amount.data, "CNY")


class SettleForm(FlaskForm):
    """Settle one ended period."""

    period = HiddenField(validators=[DataRequired(), valid_period])
