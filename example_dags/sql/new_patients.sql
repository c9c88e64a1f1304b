-- The patients to score: every row of the RDS table, in a stable order.
SELECT *
FROM new_patients
ORDER BY mean_radius, mean_texture
