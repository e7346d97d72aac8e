"""Context: where a generator accepts a concept (ICLR section 4.4, Fig. 11; method.md section 5).

``probe`` paints a concept's stroke (the unit brush, or a stamp) at many places of one picture in a few
batched renders and reads the segmenter's gain of the concept at each; ``grid`` turns that into a map over
every feature cell (``GET /context``) with a bounded cache; ``gate`` lets a stamp fall back to the unit
brush where the brush's own gain says the concept does not belong (strokes' ``"context": "respect"``);
``service`` holds the segmenters and caches of one engine. Nothing here imports the api or the engine.
"""
