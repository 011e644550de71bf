"""The HTTP edge: blueprints that parse a request, call one use case and shape the reply."""
