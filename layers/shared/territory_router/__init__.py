"""Territory Router: territory management and lead assignment for Salesforce on AWS Lambda.

Layout of the shared package (shipped to every function as one Lambda layer):

- ``domain``      pure models shared by every step (no boto3, no os.environ)
- ``territories`` territory files: formats, validation, overlaps, gaps, map
- ``tagging``     compiled territory index and lead triage (point-in-polygon and fallbacks)
- ``assignment``  roster, groups, strategies, eligibility, "why this rep"
- ``salesforce``  Event Relay / CDC event models and writeback planning
- ``adapters``    DynamoDB, S3, SQS, EventBridge, Salesforce behind small interfaces
- ``services``    one orchestration function per handler
- ``cli``, ``local``, ``demo``  the command line, the embedded AWS stack and the demo
"""

__version__ = "0.1.0"
