"""Facts from real recorded Azure ML sessions, reduced to what the tests need.

`recordings` finds and reads the recording folder (`TRAINCTL_AZURE_RECORDINGS`, default
`../shared/azure-recordings` beside the repository); `shapes` reduces JSON answers to their
shape (keys and JSON types, never values); `operations` names the service operations the
backend uses and where each one appears in the recordings. `shapes.json` is the committed
result of that reduction, so the comparison runs where the recordings are absent.
"""
