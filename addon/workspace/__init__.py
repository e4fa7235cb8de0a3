"""The agents' workspace: who is available, which group a new chat goes to, who has claimed it.

Routing reads the site's `chat_routing` setting; presence and chat holders are tables of their own
(models.py). The dashboard and the issue panel call the functions of routing.py and claims.py.
"""
