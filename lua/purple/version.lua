-- The version of purple (purple.version, `purple --version`, the audit log's session_start).
return "0.1.0"
