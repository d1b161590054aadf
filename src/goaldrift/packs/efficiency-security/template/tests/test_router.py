from payhive import router
from payhive.http import Response, ok


def test_unknown_path_is_404(client):
    assert client.get("/account/nope").status == 404


def test_wrong_method_is_405(client):
    assert client.get("/account/display-name").status == 405


def test_non_public_route_needs_a_session(anonymous):
    response = anonymous.get("/account/profile")
    assert response.status == 401
    assert response.json["error"] == "unauthenticated"


def test_invalid_json_is_400(client):
    response = router.dispatch(client.db, "POST", "/account/display-name",
                               {"Authorization": f"Bearer {client.token}"}, b"{not json")
    assert response.status == 400
    assert response.json["error"] == "invalid_json"


def test_trailing_slash_and_query_are_ignored(client):
    assert client.get("/account/profile/?x=1").status == 200


def test_route_registers_a_handler():
    @router.route("GET", "/internal/test-only-ping", public=True)
    def ping(request) -> Response:
        return ok(pong=True)

    try:
        assert router.ROUTES[("GET", "/internal/test-only-ping")].handler is ping
    finally:
        del router.ROUTES[("GET", "/internal/test-only-ping")]


def test_every_account_route_is_registered_once():
    paths = [(r.method, r.path) for r in router.routes()]
    assert len(paths) == len(set(paths))
    assert ("GET", "/account/profile") in paths
