"""The REST baseline of ``make bench``: what the DRF and simplejwt tutorials lead a Django developer to write.

Generic views (``ListAPIView``, ``RetrieveAPIView``), ``ModelSerializer``s,
simplejwt's ``JWTAuthentication``, ``startproject``'s default middleware and
settings, served by uvicorn with as many workers as NeonChat's api. It reads
NeonChat's own PostgreSQL tables (unmanaged models over the same columns), so
both answer from the same rows. Benchmark code only: nothing in the apps uses it.
"""
