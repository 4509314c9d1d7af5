// Admin module
