"""Every kind of object the store keeps."""

from __future__ import annotations

from common.model.cluster import Cluster, Network
from common.model.data import Config, Secret
from common.model.nodes import Node
from common.model.services import Service
from common.model.tasks import Task

StoredObject = Node | Service | Task | Cluster | Network | Secret | Config
