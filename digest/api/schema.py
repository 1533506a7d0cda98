"""Adjustments to the generated OpenAPI document, so it says what the API really does."""


def empty_query_values_mean_absent(result: dict, generator, request, public) -> dict:
    """drf-spectacular post-processing hook: every optional query parameter of this API takes
    an empty value (`?published_after=`, as an HTML form sends it) as not given."""
    for path in result["paths"].values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and not parameter.get("required"):
                    parameter["allowEmptyValue"] = True
    return result


def nul_bytes_are_refused(result: dict, generator, request, public) -> dict:
    """drf-spectacular post-processing hook: a NUL byte anywhere in a request is a 400 from
    digest.middleware.RefuseNulBytes before any view runs, so every operation can answer it."""
    bad_request = {
        "description": "Bad parameters (a NUL byte anywhere, too): field -> messages",
        "content": {"application/json": {"schema": {"type": "object", "additionalProperties": {}}}},
    }
    for path in result["paths"].values():
        for operation in path.values():
            operation["responses"].setdefault("400", bad_request)
            # ... and a value without one is what the API takes: say so, so that a valid
            # request never holds one.
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if schema.get("type") == "string" and "pattern" not in schema:
                    schema["pattern"] = "^[^\\x00]*$"
    return result
