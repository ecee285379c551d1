#!/bin/sh
# The frontend tier: busybox httpd runs this for "/". It forwards the query string to the
# application (APP_HOST/APP_PORT, from the `connection` requirement) and wraps its answer.
answer=$(wget -q -O- "http://$APP_HOST:$APP_PORT/?$QUERY_STRING" 2>&1)
status=$?
if [ $status -eq 0 ]; then
    printf 'Content-Type: application/json\r\n\r\n'
    printf '{"tier": "frontend", "app": %s}\n' "$answer"
else
    printf 'Status: 502 Bad Gateway\r\nContent-Type: text/plain\r\n\r\n'
    echo "frontend: cannot reach the application at $APP_HOST:$APP_PORT: $answer"
fi
