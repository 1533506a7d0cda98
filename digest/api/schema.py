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
