-- Kernel on-CPU ns per byte and switches per 1000 calls of the data calls, per cell.
-- Parameters: none.
SELECT mode, size, threads, rep, role,
       sum(oncpu_ns) / nullif(sum(bytes), 0) AS oncpu_ns_per_byte,
       1000.0 * sum(voluntary_cs + involuntary_cs) / count(*) AS cs_per_1000_calls,
       count(*) AS calls,
       sum(bytes) AS bytes
FROM syscalls
WHERE (role = 'server' AND syscall IN ('sendto', 'sendmsg'))
   OR (role = 'client' AND syscall IN ('recvfrom', 'recvmsg'))
GROUP BY ALL
ORDER BY mode, size, threads, rep, role;
