"""Gateway backends: each turns our objects into wire requests and wire answers into results."""
