import pytest
from django.core.exceptions import ImproperlyConfigured

from djust import conf


def test_defaults_apply_when_unset(settings):
    if hasattr(settings, "DJUST"):
        del settings.DJUST
    assert conf.get("SENSITIVE_FIELDS") == ["password"]
    assert conf.get("JIT") is True


def test_project_value_wins(settings):
    settings.DJUST = {"SENSITIVE_FIELDS": ["password", "ssn"]}
    assert conf.get("SENSITIVE_FIELDS") == ["password", "ssn"]


def test_unknown_key_is_rejected(settings):
    settings.DJUST = {"SENSITIVE_FIELD": []}
    with pytest.raises(ImproperlyConfigured, match="SENSITIVE_FIELD"):
        conf.get("JIT")


def test_returned_value_is_a_copy(settings):
    settings.DJUST = {"SENSITIVE_FIELDS": ["password"]}
    conf.get("SENSITIVE_FIELDS").append("oops")
    assert conf.get("SENSITIVE_FIELDS") == ["password"]
