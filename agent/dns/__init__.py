"""The name server containers on cluster networks ask for services' names (docker's embedded
resolver passes it every name it does not know itself)."""
