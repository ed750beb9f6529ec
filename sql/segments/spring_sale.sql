-- The spring sale segment of the demo warehouse (mmflow/warehouse.py): customers who opted in
-- to marketing and are not deleted. Ordered by customer_id, so row numbers (source_row in the
-- plan and rejects) are the same on every run.
SELECT
    customer_id,
    phone,
    first_name,
    country,
    vip,
    last_purchase_at,
    discount,
    coupon,
    image_url
FROM customers
WHERE marketing_opt_in
    AND NOT is_deleted
ORDER BY customer_id
