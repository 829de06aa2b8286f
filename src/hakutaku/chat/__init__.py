"""HaiChat's conversations: kept on the server per user (store), exported (export).

Model calls are not made here: the browser and the SDK call the gateway's
`/v1/chat/completions` as the user (metered like any /v1 call) and keep the answer here.
"""
