"""Edge agent for warehouse gateways: drivers, durable outbox, MQTT publisher, local rules.

Installs with ``pip install .[edge]`` on a Raspberry Pi-class gateway. Importing this
package must stay cheap and must not import paho: the outbox and drivers are usable alone.
"""
