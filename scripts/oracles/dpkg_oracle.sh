#!/bin/sh
# dpkg oracle: reads `A<TAB>B` lines on stdin, prints -1, 0 or 1 per line using
# `dpkg --compare-versions` (Debian's dpkg package).
while IFS="	" read -r a b; do
    if dpkg --compare-versions "$a" lt "$b"; then echo -1
    elif dpkg --compare-versions "$a" eq "$b"; then echo 0
    else echo 1
    fi
done
