"""The MQTT broker's access control, generated from the registry (docs/security.md).

Mosquitto ``password_file`` (PBKDF2-SHA512 ``$7$`` hashes), ``acl_file`` (each device may
publish only under its own topics and read its own config topic) and a ``mosquitto.conf``
snippet with a TLS listener.
"""
