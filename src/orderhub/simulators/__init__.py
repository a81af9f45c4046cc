"""Local stand-ins for the outside world OrderHub talks to, over real HTTP with the real formats.

`platforms` fakes the sales platforms' open APIs and pushes (Taobao/Tmall, JD, Pinduoduo, Douyin shop,
Kuaishou, a Shopify-style site, the merchant's mini-program) with their signing, paging, limits and
injectable faults. They serve the demo, the tests and the benchmarks; nothing in production uses them.
"""
