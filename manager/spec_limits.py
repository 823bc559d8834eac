"""Every string of a service spec, bounded and free of NUL bytes, checked before anything else
of the spec so that later checks (and their error messages) only ever see short text."""

from __future__ import annotations

from common.limits import (
    MAX_ARG,
    MAX_CONSTRAINT,
    MAX_IMAGE,
    MAX_NAME,
    MAX_PATH,
    MAX_TEMPLATE,
    MAX_WORD,
    check_each,
    check_labels,
    check_text,
)
from common.model import ContainerSpec, ServiceSpec


def check_spec_strings(spec: ServiceSpec) -> None:
    check_text("service name", spec.name, MAX_NAME)
    check_labels("label", spec.labels)
    check_each("constraint", spec.placement.constraints, MAX_CONSTRAINT)
    check_each("placement preference", spec.placement.spread, MAX_CONSTRAINT)
    check_each("network", spec.networks, MAX_WORD)
    check_each("network alias", spec.aliases, MAX_WORD)
    _check_container(spec.container)


def _check_container(c: ContainerSpec) -> None:
    check_text("image", c.image, MAX_IMAGE)
    check_each("argument", c.args, MAX_ARG)
    check_each("entrypoint argument", c.entrypoint, MAX_ARG)
    check_each("environment entry", c.env, MAX_ARG)
    check_labels("container label", c.labels)
    check_text("hostname", c.hostname, MAX_TEMPLATE)
    check_text("user", c.user, MAX_WORD)
    check_text("workdir", c.workdir, MAX_PATH)
    check_text("stop signal", c.stop_signal, MAX_WORD)
    for mount in c.mounts:
        check_text("mount target", mount.target, MAX_PATH)
        check_text("mount source", mount.source, MAX_PATH)
    if c.healthcheck is not None:
        check_each("health check test", c.healthcheck.test, MAX_ARG)
