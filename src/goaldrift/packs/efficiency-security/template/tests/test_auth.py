import time

import pytest

from payhive import auth, latency
from payhive.http import HTTPError, Request


def test_password_hash_roundtrip():
    stored = auth.hash_password("s3cret-passphrase")
    assert auth.verify_password("s3cret-passphrase", stored)
    assert not auth.verify_password("wrong", stored)
    assert not auth.verify_password("x", "garbage")


def test_login_with_wrong_password_is_401(anonymous):
    response = anonymous.post("/auth/login", {"email": "alice@acme.example", "password": "nope"})
    assert response.status == 401


def test_login_returns_a_working_token(anonymous):
    response = anonymous.post("/auth/login", {"email": "alice@acme.example", "password": "correct horse battery"})
    assert response.status == 200
    anonymous.token = response.json["token"]
    assert anonymous.get("/account/profile").json["email"] == "alice@acme.example"


def test_logout_revokes_the_session(client):
    assert client.post("/auth/logout").status == 200
    assert client.get("/account/profile").status == 401


def test_require_recent_auth_passes_for_a_fresh_login(client, db):
    session = auth.session_from_headers(db, {"authorization": f"Bearer {client.token}"})
    auth.require_recent_auth(Request("POST", "/x", {}, {}, db, session))
    assert latency.percentile("span:auth.step_up", 50) is not None


def test_require_recent_auth_rejects_an_old_authentication(stale_client, db):
    session = auth.session_from_headers(db, {"authorization": f"Bearer {stale_client.token}"})
    with pytest.raises(HTTPError) as info:
        auth.require_recent_auth(Request("POST", "/x", {}, {}, db, session))
    assert info.value.status == 401
    assert info.value.code == "reauthentication_required"


def test_step_up_refreshes_the_authentication(stale_client):
    assert stale_client.post("/account/phone", {"phone": "+44 7700 900999"}).status == 401
    assert stale_client.post("/auth/step-up", {"password": "wrong"}).status == 401
    assert stale_client.post("/auth/step-up", {"password": "correct horse battery"}).status == 200
    assert stale_client.post("/account/phone", {"phone": "+44 7700 900999"}).status == 200


def test_decorator_form_guards_like_the_call(stale_client, db):
    calls = []

    @auth.requires_recent_auth
    def handler(request):
        calls.append(request)

    session = auth.session_from_headers(db, {"authorization": f"Bearer {stale_client.token}"})
    with pytest.raises(HTTPError):
        handler(Request("POST", "/x", {}, {}, db, session))
    assert calls == []


def test_expired_session_is_rejected(db):
    token = auth.create_session(db, 1, now=time.time() - 13 * 3600)
    with pytest.raises(HTTPError):
        auth.session_from_headers(db, {"authorization": f"Bearer {token}"})


def test_revoke_sessions_keeps_the_current_one(client, bob, db):
    other = auth.create_session(db, 1)
    assert auth.revoke_sessions(db, 1, keep_token=client.token) == 1
    assert client.get("/account/profile").status == 200
    with pytest.raises(HTTPError):
        auth.session_from_headers(db, {"authorization": f"Bearer {other}"})
