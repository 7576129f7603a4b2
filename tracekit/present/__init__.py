"""Presenting results: the section model and its renderers (:mod:`.render`), figures
(:mod:`.plots`), other tools' formats (:mod:`.export`) and the Prometheus rules and
Grafana dashboard (:mod:`.promql`)."""
