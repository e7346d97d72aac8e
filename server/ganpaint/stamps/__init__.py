"""Concept stamps: per-style spatial templates of all units at a layer, placed as one feature-map edit.

``templates`` holds the stored form (the dissection writes it, the server loads it); ``place`` turns a
template, a centre and a size into a ``UnitEdit`` whose value is a per-unit map and whose mask is the
template's soft footprint, area-weighted onto the feature map.
"""
