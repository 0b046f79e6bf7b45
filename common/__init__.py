"""The leaf every ChannelTrace package may import: it imports nothing of ours.

What lives here is shared by the deployables without belonging to any one of them
(checks of settings values, and the section of the settings every deployable reads).
"""
