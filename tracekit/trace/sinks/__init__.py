"""Consumers of finished ticks: the golden writer (:mod:`.golden`) and the Prometheus
feed (:mod:`.prometheus`). Their third-party imports happen when they start."""
