"""The refused names and the one cache of the setting behind them."""

from __future__ import annotations

import warnings

import pytest
from django.contrib.auth.models import User
from django.db import models
from django.test.utils import isolate_apps

from djust.compiler import runtime, sensitive
from djust.compiler.sensitive import SensitiveFieldWarning, sensitive_names, sensitive_settings
from djust.compiler.tree import build_access_tree
from examples.rentals.models import Tenant
from tests.testapp.models import Author


@pytest.fixture(autouse=True)
def fresh_warnings():
    sensitive.forget_warnings()
    yield
    sensitive.forget_warnings()


def test_password_is_sensitive_whatever_the_setting_lists(settings):
    settings.DJUST = {"SENSITIVE_FIELDS": ["phone"]}
    assert sensitive_names(Tenant) == {"password", "phone"}
    settings.DJUST = {"SENSITIVE_FIELDS": []}
    assert sensitive_names(Tenant) == {"password"}


def test_a_model_adds_its_own_names_and_user_models_their_session_hash():
    assert sensitive_names(Author) == {"password", "api_token"}
    assert sensitive_names(User) == {"password", "get_session_auth_hash",
                                     "get_session_auth_fallback_hash"}
    assert "get_session_auth_hash" not in sensitive_names(Tenant)


def test_an_unrelated_setting_change_keeps_the_memo(settings):
    sensitive_settings()
    sensitive_names(Tenant)
    settings.TIME_ZONE = "Europe/Oslo"
    assert sensitive._settings is not None and Tenant in sensitive._by_model
    settings.DJUST = {"SENSITIVE_FIELDS": ["password", "city"]}
    assert sensitive._settings is None and not sensitive._by_model
    assert sensitive_settings() == ("password", "city")


def test_a_settings_read_racing_a_change_is_not_remembered(monkeypatch):
    from djust import conf

    real_get = conf.get

    def get_while_settings_change(key):
        value = real_get(key)
        # Another thread's override_settings lands between this read and its storing.
        sensitive._forget_settings(setting="DJUST")
        return value

    sensitive._forget_settings(setting="DJUST")
    monkeypatch.setattr(conf, "get", get_while_settings_change)
    assert sensitive_settings() == ("password",)
    assert sensitive_names(Tenant) == {"password"}
    assert sensitive._settings is None and Tenant not in sensitive._by_model
    monkeypatch.setattr(conf, "get", real_get)
    assert sensitive_settings() == ("password",)
    assert sensitive_names(Tenant) == {"password"}
    assert sensitive._settings == ("password",) and Tenant in sensitive._by_model


@isolate_apps("tests.testapp")
def test_a_model_changing_its_own_list_is_seen_at_once():
    class Badge(models.Model):
        code = models.CharField(max_length=10)
        djust_sensitive_fields = ["code"]

        class Meta:
            app_label = "testapp"

    assert sensitive_names(Badge) == {"password", "code"}
    Badge.djust_sensitive_fields.append("pk")
    # Run-time lookups keep the names until a compilation reads the list again.
    assert sensitive.known_sensitive_names(Badge) == {"password", "code"}
    assert sensitive_names(Badge) == {"password", "code", "pk"}
    assert sensitive.known_sensitive_names(Badge) == {"password", "code", "pk"}
    Badge.djust_sensitive_fields = ()
    assert sensitive_names(Badge) == {"password"}


def test_the_tree_and_run_time_lookups_follow_a_settings_change(settings):
    tenant = Tenant(phone="555")
    assert runtime.resolve_lookup(tenant, "phone") == "555"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert build_access_tree(Tenant, ["phone"]).child("phone").kind.value == "field"
    settings.DJUST = {"SENSITIVE_FIELDS": ["phone"]}
    assert runtime.resolve_lookup(tenant, "phone") is runtime.MISSING
    with pytest.warns(SensitiveFieldWarning, match=r"rentals\.Tenant\.phone, a sensitive field"):
        assert build_access_tree(Tenant, ["phone"]).child("phone").kind.value == "sensitive"


def test_the_warning_names_the_path_and_is_shown_once():
    with pytest.warns(SensitiveFieldWarning) as caught:
        sensitive.warn_once(Tenant, User, "user.password")
        sensitive.warn_once(Tenant, User, "user.password")
    assert [str(warning.message) for warning in caught] == [
        "rentals.Tenant: path 'user.password' reads auth.User.password, a sensitive field; "
        "djust never emits it"]
