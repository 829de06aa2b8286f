"""The `/v1` gateway: OpenAI wire format and remote models, routed to workers or upstreams."""
