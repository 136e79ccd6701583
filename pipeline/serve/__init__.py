"""The web platform (综合管理平台): a Django site that serves the history store's figures to a bureau's intranet,
with roles, an audit log and run review. It reads the store; it never recomputes a figure."""
