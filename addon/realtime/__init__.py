"""Real-time delivery of chat events to connected browsers.

`pubsub` carries messages between the action that committed them and the websocket hub, inside
one process or through Redis across workers and instances (see its docstring for the delivery
contract and what happens when Redis is unreachable).
"""

from .pubsub import InProcessPubSub, PubSub, PubSubUnavailable, Subscription, create_pubsub

__all__ = ["InProcessPubSub", "PubSub", "PubSubUnavailable", "Subscription", "create_pubsub"]
