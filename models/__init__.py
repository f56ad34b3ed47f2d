"""Estimators, fusion strategies and in-fold tuning for cdbench.

The runner uses only ``models.api.fit_predict_cell`` and ``models.fusion.combine_late``. Registries:
``models.registry.ESTIMATORS`` (prior, enet, svm, rf, xgb, mlp) and ``models.registry.FUSIONS``
(single, early, late_mean, late_weighted, late_stacked, hybrid_concat, hybrid_gated).
"""
