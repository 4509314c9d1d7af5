// Cron module
