"""The run lifecycle: submission, the reconciler that moves runs forward, completion callbacks
and run events. Built on the store and the backend protocol; the API calls into it."""
