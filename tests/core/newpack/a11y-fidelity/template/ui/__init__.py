"""storefront-ui: server-rendered HTML components of the shop's storefront."""
