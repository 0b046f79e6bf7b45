"""Fleet tools: whole simulated fleets of real agents, a swarm of MQTT sessions, the load
generator and bulk registration. They drive ``edge`` and ``cloud``, so they sit above both
(and below the command-line shell)."""
