"""One router per resource; :mod:`lendguard.service.app` mounts each of them."""
