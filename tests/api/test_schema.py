"""The OpenAPI schema is valid, the docs are served, and schemathesis finds no server error
and no response that contradicts the schema anywhere in it."""

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, settings

from digest.wsgi import application

pytestmark = pytest.mark.django_db


def test_the_schema_is_valid_openapi_3_and_names_every_endpoint(client):
    validate_schema(SchemaGenerator().get_schema(request=None, public=True))
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == {
        "/api/papers/",
        "/api/papers/{arxiv_id}/",
        "/api/digests/{day}/",
        "/api/me/papers/",
    }
    parameters = {p["name"] for p in schema["paths"]["/api/papers/"]["get"]["parameters"]}
    assert parameters == {
        "q",
        "category",
        "has_code",
        "code_status",
        "published_after",
        "published_before",
        "featured_on",
        "page",
        "page_size",
    }


def test_every_operation_documents_the_400_a_nul_byte_gets(client):
    # RefuseNulBytes answers 400 before any API view runs, whatever the endpoint.
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert "400" in operation["responses"], f"{method.upper()} {path}"
    assert client.get("/api/me/papers/", {"x\x00": "1"}).status_code == 400


def test_interactive_docs_are_served_without_a_cdn(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html and "cdn.jsdelivr.net" not in html
    # Its start-up script is a file of its own (the Content-Security-Policy refuses inline).
    assert "/api/schema/" in client.get("/api/docs/", {"script": ""}).content.decode()
    assert (
        client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css").status_code
        == 200
    )


# Loaded when the module is collected (Django is set up by then; the schema needs no query).
# schemathesis's lazy `from_fixture` loader does not work with pytest 9.
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture
def keep_test_connection():
    """What Django's test client does around each request: the WSGI handler would otherwise
    close the test's database connection, with its uncommitted data, at the end of a request."""
    signals = (request_started, request_finished)
    for signal in signals:
        signal.disconnect(close_old_connections)
    yield
    for signal in signals:
        signal.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    # The corpus fixture is set up once per endpoint; examples only read it.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_server_error_and_every_response_matches_the_schema(
    case, corpus, feed_reader, keep_test_connection
):
    cache.clear()  # neither rate limits nor cached pages carry over between examples
    _, token = feed_reader
    # The Bearer header below is the credential. A `?token=` generated from the apiKey scheme
    # would be ignored beside it, or, holding a NUL byte (which a security scheme cannot rule
    # out by a pattern), refused with the documented 400 before authentication runs.
    case.query = {name: value for name, value in (case.query or {}).items() if name != "token"}
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"})


def test_an_unroutable_api_path_answers_json_404(client):
    response = client.get("/api/papers/%0A/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert client.get("/no-such-page/")["Content-Type"].startswith("text/html")
