"""Registration of biopsy-core WSIs onto the ultrasound needle tract."""
