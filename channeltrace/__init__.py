"""ChannelTrace command-line shell and shared helpers."""
