"""etcd's API, the part Shoal uses: the only etcd stubs loaded in a manager."""
