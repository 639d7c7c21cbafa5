"""Geography rules shared by the territory files and the tagger (pure: no boto3, no environment).

- ``postal``: the one postal-code normaliser (lead and territory file alike), postal prefixes, country guess;
- ``regions``: states/provinces and countries, as typed by people and as coded in territory files;
- ``distance``: the one great-circle (haversine) distance;
- ``gazetteer``: the offline postal-code / city -> point look-up (compiled artifact in ``data/``);
- ``precision``: how precisely a lead's location is known (the precision ladder).
"""
